-- Fencing tokens: every new lease takes the next number of one counter, so a
-- holder that lost its lease (expired, taken over) can be refused by token.
ALTER TABLE locks ADD COLUMN token INTEGER NOT NULL DEFAULT 0;
CREATE TABLE lease_counter (id INTEGER PRIMARY KEY CHECK (id = 1), last INTEGER NOT NULL);
INSERT INTO lease_counter (id, last) VALUES (1, 0);
