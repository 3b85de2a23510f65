package io.nemu.e2e.support;

import io.nemu.shim.mount.MountTable;
import io.nemu.shim.mount.SafeTree;
import java.io.IOException;
import java.nio.file.Path;
import java.util.List;

/**
 * Folders the tests make and the mounts below them, through the shim's own mount-safe tree code
 * ({@link SafeTree}, {@link MountTable}): the one recursive delete of the e2e tests, and the mount table read
 * the same way by the harness and the leftovers check.
 */
public final class FileTrees {
    private FileTrees() {
    }

    /**
     * Deletes {@code top} and everything below it, links as links. Refuses while anything is mounted at or
     * below it: a walk would go on into the mounted file system and delete what is not the test's.
     */
    public static void delete(Path top) throws IOException {
        if (top != null) {
            SafeTree.host().remove(top);
        }
    }

    /** Unmounts every mount point at or below {@code top}, deepest first. */
    public static void unmountUnder(Path top) throws IOException {
        SafeTree.host().unmountAll(top);
    }

    /** Mount points at or below {@code top}, deepest first. */
    public static List<String> mountPointsUnder(Path top) throws IOException {
        return MountTable.self().pointsUnder(top);
    }

    /** Every mount point of this mount namespace, in the order of /proc/self/mountinfo. */
    public static List<String> mountPoints() throws IOException {
        return MountTable.self().points();
    }
}
