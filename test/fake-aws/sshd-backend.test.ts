import assert from 'node:assert/strict'
import {DescribeInstancesCommand, EC2Client, ImportKeyPairCommand, RunInstancesCommand, TerminateInstancesCommand, waitUntilInstanceRunning} from '@aws-sdk/client-ec2'
import {AddRoleToInstanceProfileCommand, CreateInstanceProfileCommand, CreateRoleCommand, IAMClient} from '@aws-sdk/client-iam'
import ssh2 from 'ssh2'
import {generateHostKeyPair, renderCloudInitHostKeys, sameKey} from '../../src/remote/host-keys.js'
import {disableSdkAmbientConfig, FakeAws, imagesFor, sdkConfig, startFakeAws} from '../helpers/fake-aws/index.js'
import {SshdInstanceBackend} from '../helpers/fake-aws/sshd-backend.js'
import {requireRoot, stopAllSshd} from '../helpers/sshd/index.js'

const TRUST_EC2 = JSON.stringify({Version: '2012-10-17', Statement: [{Effect: 'Allow', Principal: {Service: 'ec2.amazonaws.com'}, Action: 'sts:AssumeRole'}]})

function sshExec(opts: {host: string; port: number; privateKey: string; expectHostKey: string}, command: string): Promise<{stdout: string; hostKeyMatched: boolean}> {
  return new Promise((resolve, reject) => {
    const client = new ssh2.Client()
    let hostKeyMatched = false
    client
      .on('ready', () => {
        client.exec(command, (err, stream) => {
          if (err) return reject(err)
          let stdout = ''
          stream.on('data', (d: Buffer) => (stdout += d.toString()))
          stream.stderr.on('data', () => undefined)
          stream.on('close', () => {
            client.end()
            resolve({stdout, hostKeyMatched})
          })
        })
      })
      .on('error', reject)
      .connect({
        host: opts.host,
        port: opts.port,
        username: 'root',
        privateKey: opts.privateKey,
        readyTimeout: 10_000,
        hostVerifier: (key: Buffer) => (hostKeyMatched = sameKey(key, opts.expectHostKey)),
      })
  })
}

describe('fake EC2 with real sshd VMs (SshdInstanceBackend)', function () {
  this.timeout(60_000)
  let fake: FakeAws
  let backend: SshdInstanceBackend
  let ec2: EC2Client

  before(async function () {
    await requireRoot(this)
    disableSdkAmbientConfig()
    backend = new SshdInstanceBackend({instanceCredentials: (i) => fake.instanceCredentials(i)})
    fake = await startFakeAws({backend})
    ec2 = new EC2Client(sdkConfig(fake))
  })

  after(async () => {
    ec2?.destroy()
    await fake?.close()
    await stopAllSshd()
  })

  it('boots a VM that presents the host key from user data, accepts the key pair and holds the profile credentials', async () => {
    const iam = new IAMClient(sdkConfig(fake))
    await iam.send(new CreateRoleCommand({RoleName: 'vm', AssumeRolePolicyDocument: TRUST_EC2}))
    await iam.send(new CreateInstanceProfileCommand({InstanceProfileName: 'vm'}))
    await iam.send(new AddRoleToInstanceProfileCommand({InstanceProfileName: 'vm', RoleName: 'vm'}))
    iam.destroy()

    const hostKey = generateHostKeyPair()
    const client = ssh2.utils.generateKeyPairSync('ed25519')
    await ec2.send(new ImportKeyPairCommand({KeyName: 'operator', PublicKeyMaterial: Buffer.from(client.public)}))
    const userData = `#cloud-config\n${renderCloudInitHostKeys(hostKey)}`
    const image = imagesFor('us-east-1').find((i) => i.architecture === 'x86_64')!.imageId
    const run = await ec2.send(
      new RunInstancesCommand({
        ImageId: image,
        InstanceType: 't3.micro',
        MinCount: 1,
        MaxCount: 1,
        KeyName: 'operator',
        IamInstanceProfile: {Name: 'vm'},
        UserData: Buffer.from(userData).toString('base64'),
      }),
    )
    const id = run.Instances![0]!.InstanceId!
    await waitUntilInstanceRunning({client: ec2, minDelay: 0.01, maxDelay: 0.02, maxWaitTime: 10}, {InstanceIds: [id]})
    const inst = (await ec2.send(new DescribeInstancesCommand({InstanceIds: [id]}))).Reservations![0]!.Instances![0]!
    const details = fake.state.instances.get(id)!.backend!
    assert.equal(details.hostKeyFromUserData, true)
    assert.equal(details.hostFingerprint, hostKey.fingerprint)
    assert.equal(inst.PublicIpAddress, details.host)
    if (details.mode === 'netns') assert.match(inst.PublicIpAddress!, /^10\.200\.[0-9]+\.2$/)

    const out = await sshExec(
      {host: inst.PublicIpAddress!, port: details.port as number, privateKey: client.private, expectHostKey: hostKey.publicKey},
      'cat /root/.aws/credentials',
    )
    assert.equal(out.hostKeyMatched, true)
    const session = fake.state.sessions.find((s) => s.action === 'InstanceProfile')!
    assert.equal(session.roleArn, fake.state.roles.get('vm')!.arn)
    assert.match(out.stdout, new RegExp(`aws_access_key_id = ${session.accessKeyId}`))

    const wrong = generateHostKeyPair()
    await assert.rejects(
      sshExec({host: inst.PublicIpAddress!, port: details.port as number, privateKey: client.private, expectHostKey: wrong.publicKey}, 'true'),
      /verification failed/i,
    )

    await ec2.send(new TerminateInstancesCommand({InstanceIds: [id]}))
    await ec2.send(new DescribeInstancesCommand({InstanceIds: [id]}))
    assert.equal(fake.state.instances.get(id)!.state, 'terminated')
    assert.equal(backend.rig(id), undefined)
  })
})
