package io.nemu.vmm.template;

import java.nio.file.Path;

/**
 * How a VM takes part in templating (VM cloning): it is booted to be saved as a template, or it starts from one.
 * Either way its RAM is a file on a tmpfs (QEMU {@code memory-backend-file}) and its shared folder goes through
 * virtio-9p, a device inside QEMU: vhost-user devices (virtio-fs, vhost-user-vsock) can neither be migrated nor
 * map a clone's private copy-on-write RAM.
 */
public sealed interface Templating permits Templating.Build, Templating.Clone {

    /** The template's RAM file. */
    Path memoryFile();

    /** Whether QEMU maps the RAM file shared (the template writes into it) or private (a clone's copy-on-write). */
    boolean sharedMemory();

    /** Booted once and saved: its RAM lands in {@code memoryFile}, its device state is migrated out later. */
    record Build(Path memoryFile) implements Templating {
        public boolean sharedMemory() {
            return true;
        }
    }

    /** Starts paused ({@code -incoming defer}) on a private mapping of {@code memoryFile}, then loads {@code stateFile}. */
    record Clone(Path memoryFile, Path stateFile) implements Templating {
        public boolean sharedMemory() {
            return false;
        }
    }
}
