package io.nemu.shim.cli.check;

import java.util.List;

/** The configuration.toml: loads as the shim loads it, or the loader's own words. */
final class ConfigurationCheck {
    private ConfigurationCheck() {
    }

    static List<CheckResult> run(CheckContext c) {
        if (c.config() == null) {
            return List.of(CheckResult.fail("configuration", c.configError(),
                    "fix what is named: the shim refuses this file with the same message"));
        }
        return List.of(CheckResult.pass("configuration", c.configFile() + " loads (machine "
                + c.config().hypervisor().machineType().name() + ", " + c.config().hypervisor().defaultVcpus()
                + " vCPU, " + c.config().hypervisor().defaultMemoryMib() + " MiB)"));
    }
}
