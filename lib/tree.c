/* tree: being written. */
