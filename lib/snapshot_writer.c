/* snapshot_writer: being written. */
