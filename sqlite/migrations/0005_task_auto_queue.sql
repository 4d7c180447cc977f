-- A submitted task goes back to the queue once its questions are answered.
ALTER TABLE tasks ADD COLUMN auto_queue INTEGER NOT NULL DEFAULT 0;
