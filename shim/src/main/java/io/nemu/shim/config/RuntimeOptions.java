package io.nemu.shim.config;

import com.google.protobuf.Any;
import com.google.protobuf.InvalidProtocolBufferException;
import io.nemu.proto.containerd.runtimeoptions.v1.Options;
import java.util.Set;

/**
 * Reads containerd's runtime options: runtimeoptions.v1.Options (Kata's ConfigPath), the type containerd's
 * CRI plugin and {@code ctr --runtime-config-path} send to a runtime that is not runc. Options of another
 * type (runc's, say) are refused with their type named, as runc's and Kata's shims refuse a type they
 * cannot decode: ignoring them would run with other settings than the user gave.
 */
public final class RuntimeOptions {
    public static final String TYPE = "runtimeoptions.v1.Options";
    /** The names the type has had: containerd's CRI plugin used the package cri.runtimeoptions.v1 before 1.5. */
    private static final Set<String> NAMES = Set.of(TYPE, "cri." + TYPE);

    private RuntimeOptions() {
    }

    /** ConfigPath from an Any of runtime options; null when there are none (no type) or they name no path. */
    public static String configPath(Any options) throws ConfigException {
        if (options == null || options.getTypeUrl().isEmpty()) {
            return null;
        }
        String url = options.getTypeUrl();
        if (!NAMES.contains(url.substring(url.lastIndexOf('/') + 1))) {
            throw new ConfigException(null, "runtime options of type " + url + " are not supported by this runtime:"
                    + " it reads " + TYPE + " (ConfigPath)");
        }
        try {
            String p = Options.parseFrom(options.getValue()).getConfigPath();
            return p.isEmpty() ? null : p;
        } catch (InvalidProtocolBufferException e) {
            throw new ConfigException(null, "runtime options of type " + url + " cannot be decoded: " + e.getMessage(), e);
        }
    }

    /**
     * ConfigPath from the bytes containerd writes to {@code start}'s stdin: a protobuf Any of the runtime
     * options (containerd 1.x, 2.0-2.2). Nothing, or bytes that are not an Any, give null; so does 2.3's
     * BootstrapParams, which reads as an Any whose type is the shim's {@code id} (its field 1, instance_id).
     * An Any of another type than ours is refused.
     */
    public static String configPathFromStdin(byte[] stdin, String id) throws ConfigException {
        if (stdin == null || stdin.length == 0) {
            return null;
        }
        Any any;
        try {
            any = Any.parseFrom(stdin);
        } catch (InvalidProtocolBufferException e) {
            return null;
        }
        return any.getTypeUrl().equals(id) ? null : configPath(any);
    }
}
