/* Keeps a layer library target valid while its folder has no sources. */
int optimfs_empty_unit_unused;
