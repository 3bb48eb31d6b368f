"""What cpucompat knows, as data: the feature table, named baselines, the table loader."""
