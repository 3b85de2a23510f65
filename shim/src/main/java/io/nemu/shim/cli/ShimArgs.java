package io.nemu.shim.cli;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/**
 * The command line containerd gives a shim, Go {@code flag} style: {@code -name value}, {@code -name=value}
 * or with two dashes; booleans alone or as {@code -name=true}. Flags come before the command.
 */
public record ShimArgs(String namespace, String address, String publishBinary, String id, Path bundle,
                       boolean debug, boolean version, boolean info, String socket, String configPath,
                       String command) {

    /** A command line containerd would not pass. */
    public static final class UsageException extends Exception {
        public UsageException(String message) {
            super(message);
        }
    }

    public static ShimArgs parse(String[] argv) throws UsageException {
        String namespace = null;
        String address = null;
        String publish = null;
        String id = null;
        String bundle = null;
        String socket = null;
        String config = null;
        boolean debug = false;
        boolean version = false;
        boolean info = false;
        List<String> rest = new ArrayList<>();
        for (int i = 0; i < argv.length; i++) {
            String a = argv[i];
            if (!rest.isEmpty() || !a.startsWith("-") || a.equals("-") || a.equals("--")) {
                if (!a.equals("--")) {
                    rest.add(a);
                }
                continue;
            }
            String name = a.startsWith("--") ? a.substring(2) : a.substring(1);
            String value = null;
            int eq = name.indexOf('=');
            if (eq >= 0) {
                value = name.substring(eq + 1);
                name = name.substring(0, eq);
            }
            switch (name) {
                case "debug", "v", "info" -> {
                    boolean b = value == null || parseBool(name, value);
                    switch (name) {
                        case "debug" -> debug = b;
                        case "v" -> version = b;
                        default -> info = b;
                    }
                }
                case "namespace", "address", "publish-binary", "id", "bundle", "socket", "config" -> {
                    if (value == null) {
                        if (i + 1 >= argv.length) {
                            throw new UsageException("flag -" + name + " needs a value");
                        }
                        value = argv[++i];
                    }
                    switch (name) {
                        case "namespace" -> namespace = value;
                        case "address" -> address = value;
                        case "publish-binary" -> publish = value;
                        case "id" -> id = value;
                        case "bundle" -> bundle = value;
                        case "socket" -> socket = value;
                        default -> config = value;
                    }
                }
                default -> throw new UsageException("unknown flag -" + name);
            }
        }
        if (rest.size() > 1) {
            throw new UsageException("one command expected, got " + String.join(" ", rest));
        }
        String command = rest.isEmpty() ? null : rest.get(0);
        return new ShimArgs(namespace, address, publish, id, bundle == null ? null : Path.of(bundle), debug,
                version, info, socket, config, command);
    }

    private static boolean parseBool(String name, String v) throws UsageException {
        return switch (v) {
            case "1", "t", "T", "true", "TRUE", "True" -> true;
            case "0", "f", "F", "false", "FALSE", "False" -> false;
            default -> throw new UsageException("flag -" + name + ": invalid boolean '" + v + "'");
        };
    }

    /** Checks the flags every command needs. */
    public void requireTaskFlags() throws UsageException {
        if (namespace == null || namespace.isEmpty()) {
            throw new UsageException("flag -namespace is required");
        }
        if (id == null || id.isEmpty()) {
            throw new UsageException("flag -id is required");
        }
        if (id.contains("/") || id.equals(".") || id.equals("..")) {
            throw new UsageException("invalid -id '" + id + "'");
        }
        if (address == null || address.isEmpty()) {
            throw new UsageException("flag -address is required");
        }
    }

    /** The bundle: -bundle, else the working directory (containerd starts shims in the bundle). */
    public Path bundleDir() {
        return bundle != null ? bundle : Path.of("").toAbsolutePath();
    }
}
