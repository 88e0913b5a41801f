/* record: being written. */
