/* rules: being written. */
