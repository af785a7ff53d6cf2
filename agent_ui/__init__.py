"""The agents' console and the supervisors' views."""
