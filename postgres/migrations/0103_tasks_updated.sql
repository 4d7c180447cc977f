-- Housekeeping asks for the tasks that ended within a window of updated_at
-- (TaskFilter Ended with UpdatedSince/UpdatedBefore): each terminal state's
-- range of updated_at is then a range of this index, not a scan of every
-- task ever run. updated_at compares as bytes (COLLATE "C"), as created_at
-- does: its text is compared with range bounds.
ALTER TABLE tasks ALTER COLUMN updated_at TYPE TEXT COLLATE "C";
CREATE INDEX tasks_state_updated ON tasks(state, updated_at);
