// Package readmetest holds the test that keeps README.md's Go snippets
// compiled and gofmt-clean; it has no code of its own.
package readmetest
