-- Task lists are newest first (ORDER BY created_at DESC, id DESC) and page
-- on (created_at, id) (TaskFilter.After, the HTTP API's cursor): with these
-- a page is a range of an index, not a sort of every task, with or without
-- a state.
CREATE INDEX tasks_created ON tasks(created_at, id);
CREATE INDEX tasks_state_created ON tasks(state, created_at, id);
