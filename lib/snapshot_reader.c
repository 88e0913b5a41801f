/* snapshot_reader: being written. */
