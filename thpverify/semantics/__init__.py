"""What a spec means, concretely: the three-valued interpreter with decision
traces. It is the reference every engine's answer is checked against."""
