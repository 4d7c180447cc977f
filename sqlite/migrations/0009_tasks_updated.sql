-- Housekeeping asks for the tasks that ended within a window of updated_at
-- (TaskFilter Ended with UpdatedSince/UpdatedBefore): each terminal state's
-- range of updated_at is then a range of this index, not a scan of every
-- task ever run. An index on updated_at alone would lose to tasks_state,
-- which the planner prefers for the IN list of states.
CREATE INDEX tasks_state_updated ON tasks(state, updated_at);
