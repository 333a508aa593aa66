DROP TABLE site_exports;
