package io.nemu.shim.config;

import com.google.protobuf.Any;
import com.google.protobuf.InvalidProtocolBufferException;
import io.nemu.proto.containerd.runtimeoptions.v1.Options;

/** Reads runtimeoptions.v1.Options (Kata's ConfigPath) from what containerd sends. */
public final class RuntimeOptions {
    public static final String TYPE = "runtimeoptions.v1.Options";

    private RuntimeOptions() {
    }

    /** ConfigPath from an Any of runtime options; null when absent or of another type. */
    public static String configPath(Any options) {
        if (options == null || !options.getTypeUrl().endsWith(TYPE)) {
            return null;
        }
        try {
            String p = Options.parseFrom(options.getValue()).getConfigPath();
            return p.isEmpty() ? null : p;
        } catch (InvalidProtocolBufferException e) {
            return null;
        }
    }

    /**
     * ConfigPath from the bytes containerd writes to {@code start}'s stdin: a protobuf Any of the runtime
     * options (containerd 1.x, 2.0-2.2). Anything else (nothing, or 2.3's BootstrapParams) gives null.
     */
    public static String configPathFromStdin(byte[] stdin) {
        if (stdin == null || stdin.length == 0) {
            return null;
        }
        try {
            return configPath(Any.parseFrom(stdin));
        } catch (InvalidProtocolBufferException e) {
            return null;
        }
    }
}
