"""Process and thread pools sized from the CPUs this process may really use; created once."""
