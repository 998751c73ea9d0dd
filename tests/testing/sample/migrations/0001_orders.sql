-- Migration number: 0001
CREATE TABLE orders (id TEXT PRIMARY KEY, amount INTEGER NOT NULL);
