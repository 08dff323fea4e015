// Command mediamatch runs the mediamatch service (`mediamatch serve`) and is
// its command-line client (hash, match, add, bank, item, import, export,
// token, audit); see `mediamatch --help` and package internal/cli.
//
// main only wires the process (arguments, standard streams, signals, exit
// status) to cli.Main; every command lives in package internal/cli. Its
// tests run the built binary end to end against a real server.
package main
