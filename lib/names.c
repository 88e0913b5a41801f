/* names: being written. */
