// Package deploy holds no code: its tests check the deployment files (the
// Dockerfile, examples/compose, examples/kubernetes, examples/systemd, the
// Makefile and .goreleaser.yml) against the exporter binary they deploy, so
// that a flag, an environment variable, a port, a path or a dashboard they
// name is one the exporter really has.
package deploy
