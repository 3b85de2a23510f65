package io.nemu.vmm.template;

import io.nemu.vmm.VmConfig;
import java.nio.file.Path;

/**
 * A saved template: the guest's RAM ({@code memory}, on a tmpfs) and its device state ({@code state}).
 *
 * @param dir the template's folder in the {@link TemplateStore}
 */
public record Template(TemplateKey key, Path dir) {
    static final String MEMORY = "memory";
    static final String STATE = "state";

    public Path memoryFile() {
        return dir.resolve(MEMORY);
    }

    public Path stateFile() {
        return dir.resolve(STATE);
    }

    /**
     * The config of a clone: {@code booted} (the VM as it would boot, of this template's key) started from this
     * template, with its own run folder and shared folder.
     */
    public VmConfig cloneConfig(VmConfig booted) {
        return booted.withTemplating(new Templating.Clone(memoryFile(), stateFile()), booted.runDir(), booted.sharedDir());
    }
}
