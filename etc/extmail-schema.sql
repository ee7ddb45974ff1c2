-- The Extmail mail database schema (tables domain, mailbox, alias) that the
-- mysql_virtual_*.cf examples query, with one test domain, two users and an
-- alias. Load it into a database of its own, e.g.:
--
--   mysql -u root -e "CREATE DATABASE extmail CHARACTER SET utf8mb4"
--   mysql -u root -e "CREATE USER 'extmail'@'localhost' IDENTIFIED BY 'extmail'"
--   mysql -u root -e "GRANT SELECT ON extmail.* TO 'extmail'@'localhost'"
--   mysql -u root extmail < extmail-schema.sql
--
-- Change the password (here and in the .cf files) before real use. Postern
-- only reads these tables; the Extmail web interface (or you) maintains them.

CREATE TABLE domain (
  domain varchar(255) NOT NULL DEFAULT '',
  description varchar(255) NOT NULL DEFAULT '',
  hashdirpath varchar(255) DEFAULT '',
  maxalias int(10) NOT NULL DEFAULT 0,
  maxusers int(10) NOT NULL DEFAULT 0,
  maxquota varchar(16) NOT NULL DEFAULT '0',
  maxnetdiskquota varchar(16) NOT NULL DEFAULT '0',
  transport varchar(255) DEFAULT NULL,
  can_signup int(1) NOT NULL DEFAULT 0,
  default_quota varchar(255) DEFAULT NULL,
  default_netdiskquota varchar(255) DEFAULT NULL,
  default_expire varchar(12) DEFAULT NULL,
  disablesmtpd smallint(1) DEFAULT NULL,
  disablesmtp smallint(1) DEFAULT NULL,
  disablewebmail smallint(1) DEFAULT NULL,
  disablenetdisk smallint(1) DEFAULT NULL,
  disableimap smallint(1) DEFAULT NULL,
  disablepop3 smallint(1) DEFAULT NULL,
  createdate datetime DEFAULT NULL,
  expiredate date DEFAULT NULL,
  active tinyint(1) NOT NULL DEFAULT 1,
  PRIMARY KEY (domain)
);

CREATE TABLE mailbox (
  username varchar(255) NOT NULL DEFAULT '',
  uidnumber int(6) NOT NULL DEFAULT 1000,
  gidnumber int(6) NOT NULL DEFAULT 1000,
  password varchar(255) NOT NULL DEFAULT '',
  clearpwd varchar(128) NOT NULL DEFAULT '',
  name varchar(255) NOT NULL DEFAULT '',
  mailhost varchar(255) NOT NULL DEFAULT '',
  maildir varchar(255) NOT NULL DEFAULT '',
  homedir varchar(255) NOT NULL DEFAULT '',
  quota varchar(16) NOT NULL DEFAULT '',
  netdiskquota varchar(16) NOT NULL DEFAULT '',
  domain varchar(255) NOT NULL DEFAULT '',
  uid varchar(255) NOT NULL DEFAULT '',
  createdate datetime DEFAULT NULL,
  expiredate date DEFAULT NULL,
  active tinyint(3) NOT NULL DEFAULT 1,
  disablepwdchange smallint(1) DEFAULT NULL,
  disablesmtpd smallint(1) DEFAULT NULL,
  disablesmtp smallint(1) DEFAULT NULL,
  disablewebmail smallint(1) DEFAULT NULL,
  disablenetdisk smallint(1) DEFAULT NULL,
  disableimap smallint(1) DEFAULT NULL,
  disablepop3 smallint(1) DEFAULT NULL,
  PRIMARY KEY (username),
  KEY domain (domain)
);

CREATE TABLE alias (
  address varchar(255) NOT NULL DEFAULT '',
  goto text NOT NULL,
  domain varchar(255) NOT NULL DEFAULT '',
  createdate datetime DEFAULT NULL,
  active tinyint(1) NOT NULL DEFAULT 1,
  PRIMARY KEY (address),
  KEY domain (domain)
);

-- Test data: the domain example.com, users alice and bob, and
-- postmaster@example.com going to both. Their password hashes are
-- placeholders that match no password: set real ones through Extmail.
INSERT INTO domain (domain, description, createdate, active)
  VALUES ('example.com', 'Test domain', NOW(), 1);

INSERT INTO mailbox (username, uidnumber, gidnumber, password, name, maildir,
    homedir, quota, domain, uid, createdate, active)
  VALUES
  ('alice@example.com', 1000, 1000, '*',
   'Alice', 'example.com/alice/Maildir/', 'example.com/alice',
   '104857600S', 'example.com', 'alice', NOW(), 1),
  ('bob@example.com', 1000, 1000, '*',
   'Bob', 'example.com/bob/Maildir/', 'example.com/bob',
   '104857600S', 'example.com', 'bob', NOW(), 1);

INSERT INTO alias (address, goto, domain, createdate, active)
  VALUES ('postmaster@example.com', 'alice@example.com,bob@example.com',
          'example.com', NOW(), 1);
