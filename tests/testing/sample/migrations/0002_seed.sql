-- Migration number: 0002
INSERT INTO orders VALUES ('first', 5);
