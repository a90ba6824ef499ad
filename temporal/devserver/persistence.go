package main

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/server/common/config"
	sqliteplugin "go.temporal.io/server/common/persistence/sql/sqlplugin/sqlite"
	sqliteschema "go.temporal.io/server/schema/sqlite"
)

const (
	// defaultNamespace always exists on a dev server (SDK clients default to it).
	defaultNamespace = "default"
	// storeName names the single SQLite store that holds both execution and visibility data.
	storeName = "sqlite-default"
)

// sqliteConfig describes the SQLite store: the file in read-write-create mode, or, without a file,
// a shared-cache in-memory database whose random name keeps two servers in one process apart.
func sqliteConfig(dbFilename string) *config.SQL {
	if dbFilename == "" {
		return &config.SQL{
			PluginName:        sqliteplugin.PluginName,
			DatabaseName:      strconv.Itoa(rand.IntN(1 << 30)),
			ConnectAttributes: map[string]string{"mode": "memory", "cache": "shared"},
		}
	}
	return &config.SQL{
		PluginName:        sqliteplugin.PluginName,
		DatabaseName:      dbFilename,
		ConnectAttributes: map[string]string{"mode": "rwc"},
	}
}

// prepareStore creates the schema in a new SQLite file and registers the namespaces (with the
// search attributes) directly in it before the server starts, so that they exist the moment the
// frontend answers. The sqlite schema package exists for exactly this
// (go.temporal.io/server/schema/sqlite, CreateNamespaces: "without the need to have a running
// Temporal server"). An in-memory store gets its schema from the plugin when it opens.
func prepareStore(sql *config.SQL, dbFilename string, namespaces []string, attrs map[string]enumspb.IndexedValueType, clusterName string) error {
	if dbFilename != "" {
		if err := createSchemaIfNew(sql, dbFilename); err != nil {
			return err
		}
	}
	configs := make([]*sqliteschema.NamespaceConfig, 0, len(namespaces))
	for _, name := range namespaces {
		// Local (not global) namespaces: this is a single-cluster server.
		c, err := sqliteschema.NewNamespaceConfig(clusterName, name, false, attrs)
		if err != nil {
			return fmt.Errorf("namespace %s: %w", name, err)
		}
		configs = append(configs, c)
	}
	// Existing namespaces are left as they are; ensureSearchAttributes adds what they lack.
	if err := sqliteschema.CreateNamespaces(sql, configs...); err != nil {
		return fmt.Errorf("registering namespaces in %s: %w", describeStore(dbFilename), err)
	}
	return nil
}

func createSchemaIfNew(sql *config.SQL, dbFilename string) error {
	_, err := os.Stat(dbFilename)
	if err == nil {
		return nil
	}
	if !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("reading %s: %w", dbFilename, err)
	}
	// SQLite would create the file, but not a missing directory; say which one is missing.
	if _, err := os.Stat(filepath.Dir(dbFilename)); err != nil {
		return fmt.Errorf("the directory for --db-filename %s: %w", dbFilename, err)
	}
	if err := sqliteschema.SetupSchema(sql); err != nil {
		// A half-written file would be taken for a complete one on the next start.
		_ = os.Remove(dbFilename)
		return fmt.Errorf("creating the schema in %s: %w", dbFilename, err)
	}
	return nil
}

func describeStore(dbFilename string) string {
	if dbFilename == "" {
		return "the in-memory store"
	}
	return dbFilename
}
