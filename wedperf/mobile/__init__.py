"""Mobile responsiveness: client kinds, real-user-monitoring beacons, mobile p95."""
