"""The NAB benchmark: the streaming detector over NAB-layout data, scored by NAB's rules."""
