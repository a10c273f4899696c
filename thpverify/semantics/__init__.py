"""What a spec means, concretely: how a body of statements runs (`walk`,
written once for every pass) and the three-valued interpreter with decision
traces (`evaluate`), the reference every engine's answer is checked against."""
