-- Key rotation (issue 17, README "Keys"). "key_material" holds the keys that must outlive a master
-- key (label, badge, snapshot and device-secret keys; the recovery-code hash key; the look-up key
-- of watchlist entries that kept only a hash; retired JWT keys during their grace period), each
-- AES-GCM wrapped under the master key named by "master_id". A watchlist entry now keeps its ID
-- number sealed as well, so a rotation can recompute its hash; entries from before keep NULL.
CREATE TABLE "key_material" (
    "name" VARCHAR(64) NOT NULL PRIMARY KEY,
    "master_id" VARCHAR(16) NOT NULL,
    "wrapped" BLOB NOT NULL,
    "expires_at" TIMESTAMP,
    "created_at" TIMESTAMP NOT NULL
);
ALTER TABLE "watchlist_entry" ADD COLUMN "id_number_enc" BLOB;
