package io.nemu.agent.storage;

import io.nemu.proto.kata.Storage;
import java.nio.file.Path;

/**
 * One kind of {@link Storage} that CreateSandbox and CreateContainer may ask for, chosen by its
 * {@code driver} name (Kata's storage handlers). {@link StorageDrivers} knows them all.
 */
public interface StorageDriver {

    /**
     * Makes {@code s} available at its mount point. {@code where} names it in error messages
     * ({@code storages[2]}).
     *
     * @return the mount point to undo when its sandbox or container goes, or null when there is nothing to undo
     */
    Path mount(Storage s, String where);
}
