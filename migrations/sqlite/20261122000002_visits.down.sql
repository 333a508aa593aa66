DROP TABLE post_views;
DROP INDEX visits_post;
DROP TABLE visits;
DROP TABLE visitors;
