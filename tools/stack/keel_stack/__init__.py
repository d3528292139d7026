"""keel-stack: run the keel system natively from docker-compose files (x-native blocks)."""
