// Command causeway runs the Causeway Matrix appservice bridge.
//
//	causeway [run] -c config.yaml        run the bridge (the default command)
//	causeway generate-registration -c config.yaml -o registration.yaml
//	causeway version
//
// main only parses flags and wires packages together; the work happens in
// package core.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"runtime/debug"
	"syscall"
	"time"

	"github.com/causewaybridge/causeway/bridges"
	"github.com/causewaybridge/causeway/config"
	"github.com/causewaybridge/causeway/core"
	"github.com/causewaybridge/causeway/registration"

	// Bridge modules, enabled by their configuration sections.
	_ "github.com/causewaybridge/causeway/bridges/irc"
	_ "github.com/causewaybridge/causeway/bridges/loopback"
	_ "github.com/causewaybridge/causeway/bridges/xmpp"
)

// Version is set at build time with -ldflags "-X main.Version=...".
var Version = "dev"

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

const usage = `Causeway: a Matrix application service that bridges IRC networks.

Usage:
  causeway [run] [-c config.yaml]         run the bridge (default command)
  causeway generate-registration [-c config.yaml] [-o registration.yaml]
                                          write the homeserver registration (keeps existing tokens)
  causeway version                        print the version and the compiled-in bridge modules
  causeway help                           this text

Run "causeway COMMAND -h" for the flags of a command.
`

func run(args []string, stdout, stderr io.Writer) int {
	cmd := "run"
	if len(args) > 0 && (args[0] == "-h" || args[0] == "--help" || args[0] == "-help") {
		cmd, args = "help", args[1:]
	} else if len(args) > 0 && len(args[0]) > 0 && args[0][0] != '-' {
		cmd, args = args[0], args[1:]
	}
	var err error
	switch cmd {
	case "run":
		err = runBridge(args, stderr)
	case "generate-registration":
		err = generateRegistration(args, stdout, stderr)
	case "version":
		fmt.Fprintf(stdout, "causeway %s\n", version())
		for _, id := range bridges.Default.IDs() {
			info, _ := bridges.Default.Get(id)
			fmt.Fprintf(stdout, "  module %-10s %s\n", id, info.Description)
		}
	case "help", "-h", "--help":
		fmt.Fprint(stdout, usage)
	default:
		fmt.Fprintf(stderr, "causeway: unknown command %q\n\n%s", cmd, usage)
		return 2
	}
	if errors.Is(err, flag.ErrHelp) {
		return 0
	}
	if err != nil {
		fmt.Fprintf(stderr, "causeway: %v\n", err)
		return 1
	}
	return 0
}

func version() string {
	if Version != "dev" {
		return Version
	}
	if bi, ok := debug.ReadBuildInfo(); ok && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
		return bi.Main.Version
	}
	return Version
}

func generateRegistration(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("generate-registration", flag.ContinueOnError)
	fs.SetOutput(stderr)
	cfgPath := fs.String("c", "config.yaml", "configuration file")
	out := fs.String("o", "", "registration file to write (default: appservice.registration from the config)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	cfg, err := config.Load(*cfgPath)
	if err != nil {
		return err
	}
	mods, err := core.Modules(cfg, bridges.Default)
	if err != nil {
		return err
	}
	path := *out
	if path == "" {
		path = cfg.Appservice.Registration
	}
	var existing *registration.Registration
	if old, err := registration.Load(path); err == nil {
		existing = old
	} else if !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("existing registration %s is unreadable (move it away to start fresh): %w", path, err)
	}
	reg, err := registration.Generate(core.RegistrationSpec(cfg, mods), existing)
	if err != nil {
		return err
	}
	if err := reg.Save(path); err != nil {
		return err
	}
	verb := "wrote new tokens to"
	if existing != nil {
		verb = "kept the existing tokens in"
	}
	fmt.Fprintf(stdout, "Registration %s %s. Give it to your homeserver and restart it.\n", verb, path)
	return nil
}

func newLogger(cfg config.Logging, w io.Writer) *slog.Logger {
	var lvl slog.Level
	_ = lvl.UnmarshalText([]byte(cfg.Level))
	opts := &slog.HandlerOptions{Level: lvl}
	if cfg.Format == "json" {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}

func runBridge(args []string, stderr io.Writer) error {
	fs := flag.NewFlagSet("run", flag.ContinueOnError)
	fs.SetOutput(stderr)
	cfgPath := fs.String("c", "config.yaml", "configuration file")
	shutdownTimeout := fs.Duration("shutdown-timeout", 30*time.Second, "how long to wait for work in flight on SIGINT/SIGTERM")
	if err := fs.Parse(args); err != nil {
		return err
	}
	cfg, err := config.Load(*cfgPath)
	if err != nil {
		return err
	}
	log := newLogger(cfg.Logging, stderr)
	reg, err := registration.Load(cfg.Appservice.Registration)
	if err != nil {
		return fmt.Errorf("%w (run `causeway generate-registration -c %s` first)", err, *cfgPath)
	}
	mods, err := core.Modules(cfg, bridges.Default)
	if err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	b, err := core.New(ctx, core.Options{Config: cfg, Registration: reg, Modules: mods, Logger: log})
	if err != nil {
		return err
	}
	if err := b.Start(ctx); err != nil {
		sctx, cancel := context.WithTimeout(context.Background(), *shutdownTimeout)
		defer cancel()
		if stoppedBySignal(ctx, err) {
			// Ctrl-C before the start completed (say while waiting for
			// the homeserver): the user stopping the program is no error.
			log.Info("stopped before the start completed")
			return b.Stop(sctx)
		}
		return errors.Join(err, b.Stop(sctx))
	}
	<-ctx.Done()
	stop()
	log.Info("shutting down", "timeout", *shutdownTimeout)
	sctx, cancel := context.WithTimeout(context.Background(), *shutdownTimeout)
	defer cancel()
	return b.Stop(sctx)
}

// stoppedBySignal reports whether err, returned by a start that ctx (the
// signal context) governs, only says that a signal cancelled ctx.
func stoppedBySignal(ctx context.Context, err error) bool {
	return ctx.Err() != nil && errors.Is(err, context.Canceled)
}
