import { parseArgs } from 'node:util';
import { CloudFormationClient, DescribeStacksCommand } from '@aws-sdk/client-cloudformation';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { GetQueueUrlCommand, SQSClient } from '@aws-sdk/client-sqs';
import { QUEUE, TABLE } from '../definitions.ts';
import { LOCAL_CREDENTIALS, LOCAL_REGION } from '../local/services.ts';
import { inspect, NotFound, redrive, redriveStatus, replay, type Target } from './operations.ts';

const USAGE = `Operator commands, against local mode (default) or a deployed stage.

  npm run ops -- redrive [--status]              DLQ → notification queue (AWS: SQS message move task)
  npm run ops -- replay <notification_id>        re-apply a stored notification through the worker
  npm run ops -- inspect <scheduling_request_id> the record and its notification history

Options:
  --stage <name>   use the deployed stack CronofyNotifications-<name> (AWS credentials and region
                   from the usual AWS_* environment / profile)
  --help           this text

Local mode: endpoints 127.0.0.1:$DYNAMODB_PORT (8000) and :$SQS_PORT (9324), table $TABLE_NAME
(${TABLE.localName}); run \`npm start\` first.`;

async function localTarget(): Promise<Target> {
  const options = { region: LOCAL_REGION, credentials: LOCAL_CREDENTIALS };
  const ddb = new DynamoDBClient({
    ...options,
    endpoint: `http://127.0.0.1:${process.env.DYNAMODB_PORT ?? 8000}`,
  });
  const sqs = new SQSClient({ ...options, endpoint: `http://127.0.0.1:${process.env.SQS_PORT ?? 9324}` });
  const url = async (name: string) =>
    (await sqs.send(new GetQueueUrlCommand({ QueueName: name }))).QueueUrl ?? '';
  return {
    ddb,
    sqs,
    tableName: process.env.TABLE_NAME ?? TABLE.localName,
    queueUrl: await url(QUEUE.localName),
    dlqUrl: await url(QUEUE.dlqLocalName),
    local: true,
  };
}

async function stageTarget(stage: string): Promise<Target> {
  const stackName = `CronofyNotifications-${stage}`;
  const described = await new CloudFormationClient({}).send(
    new DescribeStacksCommand({ StackName: stackName }),
  );
  const outputs = Object.fromEntries(
    (described.Stacks?.[0]?.Outputs ?? []).map((output) => [
      output.OutputKey ?? '',
      output.OutputValue ?? '',
    ]),
  );
  for (const key of ['TableName', 'QueueUrl', 'DeadLetterQueueUrl']) {
    if (!outputs[key]) throw new Error(`stack ${stackName} has no output ${key}`);
  }
  return {
    ddb: new DynamoDBClient({}),
    sqs: new SQSClient({}),
    tableName: outputs.TableName ?? '',
    queueUrl: outputs.QueueUrl ?? '',
    dlqUrl: outputs.DeadLetterQueueUrl ?? '',
    local: false,
  };
}

async function main(): Promise<number> {
  const { values, positionals } = parseArgs({
    allowPositionals: true,
    options: { stage: { type: 'string' }, status: { type: 'boolean' }, help: { type: 'boolean' } },
  });
  const [command, argument] = positionals;
  if (values.help || !command) {
    console.log(USAGE);
    return values.help ? 0 : 2;
  }
  const target = values.stage ? await stageTarget(values.stage) : await localTarget();
  switch (command) {
    case 'redrive': {
      if (values.status) {
        console.log(JSON.stringify((await redriveStatus(target)) ?? { status: 'no move task' }, null, 2));
        return 0;
      }
      const result = await redrive(target);
      console.log(
        result.taskHandle
          ? `Message move task started (${result.taskHandle}). Follow it with: npm run ops -- redrive --status --stage ${values.stage}`
          : `Moved ${result.moved} message(s) from the DLQ back to the notification queue.`,
      );
      return 0;
    }
    case 'replay': {
      if (!argument) break;
      const result = await replay(target, argument);
      console.log(
        `Replayed ${argument} (type ${String(result.type)}, was ${String(result.previousStatus)}). ` +
          'The worker applies it at most once: an already-applied notification changes nothing.',
      );
      return 0;
    }
    case 'inspect': {
      if (!argument) break;
      console.log(JSON.stringify(await inspect(target, argument), null, 2));
      return 0;
    }
  }
  console.error(USAGE);
  return 2;
}

main().then(
  (code) => process.exit(code),
  (error: unknown) => {
    console.error(
      error instanceof NotFound
        ? error.message
        : `ops failed: ${(error as Error).name}: ${(error as Error).message}`,
    );
    process.exit(1);
  },
);
