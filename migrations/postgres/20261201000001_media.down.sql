DROP TABLE media_uses;
DROP TABLE uploads;
DROP TABLE media;
