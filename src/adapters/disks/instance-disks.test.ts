/** The InstanceDisks contract against the qcow2 adapter (real files, qemu-img) and the fake. */
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync } from 'node:fs';
import { unlink } from 'node:fs/promises';
import path from 'node:path';
import { instanceDisksContract } from '../../ports/instance-disks.contract.js';
import { MemoryDisks } from '../../testing/memory-disks.js';
import { RUN_TIMEOUT_MS } from '../../testing/processes.js';
import { scratchDir } from '../../testing/scratch.js';
import { requireQemuImg } from '../../testing/tools.js';
import { Qcow2Disks } from './qcow2-disks.js';

const scratch = scratchDir('vpmu-disks-contract-');

if (requireQemuImg() === false) {
  instanceDisksContract('Qcow2Disks', async () => {
    const dir = mkdtempSync(path.join(scratch, 'x-'));
    const image = path.join(dir, 'images', 'cirros.qcow2');
    mkdirSync(path.dirname(image));
    execFileSync('qemu-img', ['create', '-q', '-f', 'qcow2', image, '64M'], {
      timeout: RUN_TIMEOUT_MS,
    });
    const root = path.join(dir, 'instances');
    return {
      disks: new Qcow2Disks({ instanceRoot: root }),
      root,
      image,
      deleteImage: () => unlink(image),
      makeLegacyDisk: async (disk: string) => {
        mkdirSync(path.dirname(disk), { recursive: true });
        execFileSync(
          'qemu-img',
          ['create', '-q', '-f', 'qcow2', '-F', 'qcow2', '-b', image, disk],
          {
            timeout: RUN_TIMEOUT_MS,
          },
        );
      },
    };
  });
}

instanceDisksContract('MemoryDisks', async () => {
  const disks = new MemoryDisks({ instanceRoot: '/srv/vpmu/instances' });
  disks.images.add('/srv/vpmu/images/cirros.qcow2');
  const image = '/srv/vpmu/images/cirros.qcow2';
  return {
    disks,
    root: '/srv/vpmu/instances',
    image,
    deleteImage: async () => {
      disks.images.delete(image);
    },
    makeLegacyDisk: async (disk: string) => {
      disks.addLegacyDisk(disk, image);
    },
  };
});
