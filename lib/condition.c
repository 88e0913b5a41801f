/* condition: being written. */
