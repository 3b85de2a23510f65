package io.nemu.shim.cli.check;

import io.nemu.shim.config.HostFiles;
import io.nemu.shim.config.RuntimeConfig;
import java.nio.file.Path;
import java.util.List;
import java.util.Optional;

/**
 * What the checks look at: the host, the configuration the shim would load (or why it cannot), and containerd's.
 *
 * @param configFile       the configuration.toml, located as the shim locates it; null when none could be
 * @param config           that file loaded, or null when it is broken ({@code configError} says why)
 * @param configError      the loader's message for a broken file, else null
 * @param containerdConfig containerd's config.toml
 * @param shimDirs         the folders containerd finds shims in (its PATH)
 */
public record CheckContext(HostRoot host, Path configFile, RuntimeConfig config, String configError,
                           Path containerdConfig, List<Path> shimDirs) {

    /** The host-file problem under this configuration key ({@code hypervisor.qemu.path}, ...), if any. */
    public Optional<HostFiles.Problem> fileProblem(String key) {
        if (config == null) {
            return Optional.empty();
        }
        return HostFiles.check(config).stream().filter(p -> p.key().equals(key)).findFirst();
    }
}
