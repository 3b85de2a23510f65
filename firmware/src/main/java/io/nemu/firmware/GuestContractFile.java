package io.nemu.firmware;

import io.nemu.contract.GuestContract;
import java.util.Map;

/**
 * {@code /etc/nemu/contract.env}: the values {@code /init} shares with the host (the virtio-fs tag, the
 * shared folder's mount path, the agent's vsock port), written from agent-proto's {@link GuestContract}
 * as shell assignments that /init sources, so the script spells none of them.
 */
final class GuestContractFile {
    /** Where the file goes in the image (relative to its root). */
    static final String PATH = "etc/nemu/contract.env";

    private GuestContractFile() {
    }

    static String render() {
        return render(GuestContract.shellVariables());
    }

    /** One {@code NAME='value'} line per variable, single-quoted so no value is expanded by the shell. */
    static String render(Map<String, String> variables) {
        StringBuilder sb = new StringBuilder("# Written by the image builder from io.nemu.contract.GuestContract.\n");
        variables.forEach((name, value) -> {
            if (!name.matches("[A-Z_][A-Z0-9_]*")) {
                throw new IllegalArgumentException("not a shell variable name: " + name);
            }
            sb.append(name).append("='").append(value.replace("'", "'\\''")).append("'\n");
        });
        return sb.toString();
    }
}
