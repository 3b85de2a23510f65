package io.nemu.agent.storage;

import io.nemu.agent.AgentException;
import io.nemu.agent.sys.Mounts;
import io.nemu.proto.kata.Storage;
import java.io.IOException;
import java.nio.file.Path;

/** The mount(2) every mounting driver ends with, once it has filled in its defaults. */
final class StorageMount {
    private StorageMount() {}

    /** The storage's mount point as a path; it must be absolute. */
    static Path target(String mountPoint, String where) {
        if (mountPoint.isEmpty() || !mountPoint.startsWith("/")) {
            throw AgentException.invalid(where + ".mount_point '" + mountPoint + "' must be an absolute path");
        }
        return Path.of(mountPoint);
    }

    /**
     * Mounts {@code source} of {@code fstype} with the storage's options. A storage mounted once for the
     * whole pod ({@code mountedOnce}) that is already there is left alone: null, nothing to undo.
     */
    static Path mount(Storage s, String where, String mountPoint, String source, String fstype, boolean mountedOnce) {
        Path target = target(mountPoint, where);
        if (mountedOnce && Mounts.isMountPoint(target)) {
            return null;
        }
        try {
            Mounts.mount(source, target, fstype, s.getOptionsList());
        } catch (IOException e) {
            throw AgentException.internal(where + ": " + e.getMessage(), e);
        }
        return target;
    }

    static String orDefault(String value, String fallback) {
        return value.isEmpty() ? fallback : value;
    }
}
