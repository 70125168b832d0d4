"""The plumbing every service shares: the lab's manifest, endpoints, the one deadline-bounded wait, containers,
probes, the browser, strict mode and the lab-wide fixtures."""
