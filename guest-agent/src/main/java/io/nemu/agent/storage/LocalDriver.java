package io.nemu.agent.storage;

import io.nemu.agent.AgentException;
import io.nemu.proto.kata.Storage;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;

/** {@code local}: a directory of the guest's own filesystem, created if missing; nothing is mounted. */
final class LocalDriver implements StorageDriver {

    @Override
    public Path mount(Storage s, String where) {
        Path dir = StorageMount.target(s.getMountPoint(), where);
        try {
            Files.createDirectories(dir);
        } catch (IOException e) {
            throw AgentException.internal(where + ": cannot create " + s.getMountPoint() + ": " + e.getMessage(), e);
        }
        return null;
    }
}
