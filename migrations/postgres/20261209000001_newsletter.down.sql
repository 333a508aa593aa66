DROP TABLE newsletter_deliveries;
DROP TABLE newsletter_sends;
DROP TABLE subscriptions;
DROP TABLE subscribers;
ALTER TABLE posts DROP COLUMN email_subscribers;
