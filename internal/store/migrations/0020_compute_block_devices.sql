-- Compute block device mappings (Nova's block_device_mapping): the volumes a server has,
-- from its boot request (boot from volume, images or snapshots made into volumes, blank
-- volumes) or attached later through os-volume_attachments. Only volume-backed mappings
-- are rows here; the image boot disk, ephemeral and swap come from the flavor.
CREATE TABLE compute_block_device_mappings (
    uuid TEXT PRIMARY KEY,
    instance_uuid TEXT NOT NULL,
    -- source_type is image, snapshot, blank or volume; destination is always volume.
    source_type TEXT NOT NULL,
    image_id TEXT NOT NULL DEFAULT '',
    snapshot_id TEXT NOT NULL DEFAULT '',
    volume_id TEXT NOT NULL DEFAULT '',
    volume_size INTEGER NOT NULL DEFAULT 0,
    volume_type TEXT NOT NULL DEFAULT '',
    device_name TEXT NOT NULL DEFAULT '',
    -- boot_index -1 is not bootable.
    boot_index INTEGER NOT NULL DEFAULT -1,
    delete_on_termination BOOLEAN NOT NULL DEFAULT FALSE,
    tag TEXT NOT NULL DEFAULT '',
    disk_bus TEXT NOT NULL DEFAULT '',
    device_type TEXT NOT NULL DEFAULT '',
    attachment_id TEXT NOT NULL DEFAULT '',
    -- connection_info is the volume service's JSON for the instance's host.
    connection_info TEXT NOT NULL DEFAULT '',
    -- status: creating (volume being made for a build), attaching, attached, detaching.
    status TEXT NOT NULL,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL
);
CREATE INDEX compute_bdm_instance ON compute_block_device_mappings (instance_uuid);
CREATE INDEX compute_bdm_volume ON compute_block_device_mappings (volume_id);

