-- Release registry, version 1. Records are the JSON of attest.Release (the
-- bbolt registry's record format); the release key inside is sealed under
-- the registry key (AES-256-GCM, release id as additional data).
CREATE TABLE trustfuse_registry_meta (
	name  text PRIMARY KEY,
	value bytea NOT NULL
);
CREATE TABLE trustfuse_releases (
	id      text PRIMARY KEY,
	record  jsonb NOT NULL,
	updated timestamptz NOT NULL DEFAULT now()
);
