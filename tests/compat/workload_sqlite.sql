-- workload_sqlite.sql - the sqlite3 workload of the compatibility suite (run_compat.sh):
-- tables filled by recursive CTEs, indexes, joins, aggregates, window functions, JSON and
-- text functions, updates and deletes. Every query has an ORDER BY: the output is fixed.
.headers on
.mode list
PRAGMA journal_mode = WAL;
CREATE TABLE customers(id INTEGER PRIMARY KEY, name TEXT, city TEXT, joined INTEGER);
CREATE TABLE orders(id INTEGER PRIMARY KEY, customer INTEGER, amount REAL, note TEXT);
WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 6000)
INSERT INTO customers SELECT i, 'customer-' || i, 'city-' || (i % 97), 2000 + i % 25 FROM n;
WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 60000)
INSERT INTO orders SELECT i, 1 + (i * 7919) % 6000, (i % 1000) / 10.0,
  printf('order %d of %s', i, substr('abcdefghij', 1 + i % 10)) FROM n;
CREATE INDEX orders_customer ON orders(customer);
CREATE INDEX customers_city ON customers(city);
SELECT count(*), sum(amount), round(avg(amount), 3) FROM orders;
SELECT c.city, count(o.id) AS n, round(sum(o.amount), 1) AS total
  FROM customers c JOIN orders o ON o.customer = c.id
  GROUP BY c.city ORDER BY total DESC, c.city LIMIT 10;
SELECT id, name, total, rank FROM (
  SELECT c.id, c.name, sum(o.amount) AS total,
         rank() OVER (ORDER BY sum(o.amount) DESC, c.id) AS rank
  FROM customers c JOIN orders o ON o.customer = c.id GROUP BY c.id)
  WHERE rank <= 5 ORDER BY rank;
SELECT joined, count(*), group_concat(id, ',') FILTER (WHERE id < 100)
  FROM customers GROUP BY joined ORDER BY joined;
SELECT json_group_array(json_object('id', id, 'len', length(note)))
  FROM (SELECT id, note FROM orders WHERE id % 6000 = 0 ORDER BY id);
UPDATE orders SET amount = amount * 2 WHERE customer % 3 = 0;
DELETE FROM orders WHERE id % 7 = 0;
SELECT count(*), round(sum(amount), 1) FROM orders;
SELECT upper(substr(note, 1, 12)), count(*) FROM orders GROUP BY 1 ORDER BY 2 DESC, 1 LIMIT 5;
CREATE TABLE words AS
  WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 20000)
  SELECT i, replace(printf('%08d', i * 2654435761 % 100000000), '0', 'z') AS w FROM n;
SELECT w FROM words ORDER BY w DESC LIMIT 3;
SELECT count(DISTINCT substr(w, 1, 3)) FROM words;
PRAGMA integrity_check;
